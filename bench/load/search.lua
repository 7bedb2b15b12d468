-- wrk script: POST a search to the demo knowledge base.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query": "CYP3A4 inhibitor statin", "mode": "bm25", "k": 10}'
