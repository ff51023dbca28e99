-- wrk script: POST /orders with a fixed valid body.
wrk.method = "POST"
wrk.body = '{"item":"bench-widget","quantity":1}'
wrk.headers["Content-Type"] = "application/json"
