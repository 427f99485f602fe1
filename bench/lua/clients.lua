-- wrk script of bench/clients.sh: every request is a client_credentials token request
-- (BENCH_BODY) authenticated as a client drawn at random, uniformly, from the file
-- BENCH_CLIENTS (one Authorization header value per line, written by bench/cmd/seedclients),
-- so the load spreads over all registered clients rather than hitting one. With
-- BENCH_ORDER=sequential it goes through the clients in turn instead (the warm-up, which
-- so reaches every client once rather than most of them).
local requests = {}
local sequential = os.getenv("BENCH_ORDER") == "sequential"
local next = 0

function init(args)
	local file = os.getenv("BENCH_CLIENTS")
	local body = os.getenv("BENCH_BODY")
	for line in io.lines(file) do
		requests[#requests + 1] = wrk.format("POST", nil, {
			["Authorization"] = line,
			["Content-Type"] = "application/x-www-form-urlencoded",
		}, body)
	end
	assert(#requests > 0, "no clients in " .. file)
	math.randomseed(os.time())
end

function request()
	if sequential then
		next = next % #requests + 1
		return requests[next]
	end
	return requests[math.random(#requests)]
end
