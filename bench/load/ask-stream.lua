-- wrk script: the same question, answered as server-sent events (the web page's path).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "text/event-stream"
wrk.body = '{"question": "Can simvastatin be taken with clarithromycin?", "stream": true}'
