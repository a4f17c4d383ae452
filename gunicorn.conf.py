"""gunicorn reads this file from the directory it starts in (the image's /app, the
repository for scripts/stack.py and the load test).

No access log: the console writes one line per request itself (RequestLogMiddleware:
method, path, status, time, user). Should someone turn gunicorn's on (`--access-logfile
-`), it writes the path only: never the query string (`?recipient=010-…`, searched text)
nor the Referer, which repeats it; no user agent or address either.
"""

accesslog = None
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
