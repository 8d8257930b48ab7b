-- wrk: POST <url> {"text":"hello"} with `Authorization: Bearer $TOKEN` (bench/messages.py sets TOKEN).
-- The same body as the peer's bench/post_message.lua. Every request stores a message.
local token = os.getenv("TOKEN")
if not token or token == "" then error("set TOKEN") end
wrk.method = "POST"
wrk.body = '{"text":"hello"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
