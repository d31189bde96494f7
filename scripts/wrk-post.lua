-- Sends the JSON body in WRK_BODY to the URL wrk was given, with WRK_METHOD (default POST).
wrk.method = os.getenv("WRK_METHOD") or "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = os.getenv("WRK_BODY")
dofile(os.getenv("WRK_REPORT"))
