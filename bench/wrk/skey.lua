-- GET with the skey header taken from the environment.
wrk.headers["skey"] = os.getenv("SKEY")
dofile(os.getenv("WRK_REPORT"))
