-- POST /v1/auth/login with the credentials in WRK_LOGIN and WRK_PASSWORD.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = string.format('{"login":"%s","password":"%s"}', os.getenv("WRK_LOGIN"), os.getenv("WRK_PASSWORD"))
dofile(os.getenv("WRK_REPORT"))
