-- Sends one fresh DPoP proof per request, in file order, each exactly once. wrk cannot sign,
-- so bench/cmd/dpopproofs signs them ahead: $BENCH_DPOP_PROOFS names the file (one proof per
-- line) and $BENCH_AUTHORIZATION is "DPoP <token>". Run it with -t1: every thread would read
-- the same file and replay the other threads' proofs.
--
-- When the proofs run out, requests go without one and fail (401): the shortage shows as
-- errors instead of replays. done() prints how many were sent.

local threads = {}

function setup(thread)
	threads[#threads + 1] = thread
	if #threads > 1 then
		error("dpop.lua needs wrk -t1: proofs are single-use")
	end
end

function init(args)
	local path = os.getenv("BENCH_DPOP_PROOFS") or error("BENCH_DPOP_PROOFS is not set")
	proofs = {}
	for line in io.lines(path) do
		proofs[#proofs + 1] = line
	end
	available, sent, missing = #proofs, 0, 0
	wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION") or error("BENCH_AUTHORIZATION is not set")
	-- wrk.format ends the head with an empty line: the DPoP header goes right before it, so
	-- each request costs one string concatenation.
	without_proof = wrk.format("GET")
	prefix = without_proof:sub(1, -3) .. "DPoP: "
end

function request()
	if sent >= available then
		missing = missing + 1
		return without_proof
	end
	sent = sent + 1
	return prefix .. proofs[sent] .. "\r\n\r\n"
end

function done(summary, latency, requests)
	local t = threads[1]
	io.write(string.format("DPOP proofs_sent=%d proofs_available=%d requests_without_proof=%d\n",
		t:get("sent"), t:get("available"), t:get("missing")))
end
