-- Sends the JSON body in WRK_BODY to the URL wrk was given, with WRK_METHOD (default POST);
-- or, with WRK_BODIES (bodies separated by "|"), each request the next of them in turn.
wrk.method = os.getenv("WRK_METHOD") or "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = os.getenv("WRK_BODY")
local bodies, turn = {}, 0
for body in string.gmatch(os.getenv("WRK_BODIES") or "", "[^|]+") do table.insert(bodies, body) end
if #bodies > 0 then
  request = function()
    turn = turn % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[turn])
  end
end
dofile(os.getenv("WRK_REPORT"))
