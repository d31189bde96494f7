-- POSTs the JSON body in WRK_BODY to the URL wrk was given.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = os.getenv("WRK_BODY")
dofile(os.getenv("WRK_REPORT"))
