-- Sends the same GET with the Authorization header from $BENCH_AUTHORIZATION (none when it is
-- unset), so the token stays off the command line. No request() function: wrk keeps its
-- pre-built request, the same cheap path as a script-less run.
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
	wrk.headers["Authorization"] = authorization
end
