-- wrk script: POST a fixed question to the demo knowledge base.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"question": "Can simvastatin be taken with clarithromycin?"}'
