-- wrk: GET <url> with `Authorization: Bearer $TOKEN` (bench/messages.py sets TOKEN).
local token = os.getenv("TOKEN")
if not token or token == "" then error("set TOKEN") end
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
