-- POSTs the same token request: $BENCH_AUTHORIZATION is the client's Basic credentials and
-- $BENCH_BODY the form. With $BENCH_DPOP_PROOFS (a file of single-use proofs for POST /token,
-- from bench/cmd/dpopproofs -token-endpoint-proofs) each request carries the next proof, so
-- the server makes a DPoP-bound token every time. Run with -t1 (proofs are single-use).
local threads = {}

function setup(thread)
	threads[#threads + 1] = thread
	if #threads > 1 then
		error("token.lua needs wrk -t1")
	end
end

function init(args)
	wrk.method = "POST"
	wrk.body = os.getenv("BENCH_BODY") or error("BENCH_BODY is not set")
	wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
	wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION") or error("BENCH_AUTHORIZATION is not set")
	proofs, available, sent, missing = {}, 0, 0, 0
	local path = os.getenv("BENCH_DPOP_PROOFS") or ""
	if path ~= "" then
		for line in io.lines(path) do
			proofs[#proofs + 1] = line
		end
		available = #proofs
	end
	plain = wrk.format()
	head, tail = plain:match("^(.-\r\n)(\r\n.*)$")
end

function request()
	if available == 0 then
		return plain
	end
	if sent < available then
		sent = sent + 1
		return head .. "DPoP: " .. proofs[sent] .. "\r\n" .. tail
	end
	missing = missing + 1
	return plain
end

function done(summary, latency, requests)
	-- done() runs in the main Lua state: the counters live in the thread's.
	local t = threads[1]
	if t:get("available") > 0 then
		io.write(string.format("TOKEN proofs_sent=%d requests_without_proof=%d\n", t:get("sent"), t:get("missing")))
	end
end
