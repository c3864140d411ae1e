/**
 * One HTTP request, printed as JSON `{status, body}`: the deploy tests run it
 * inside the service's network namespace, as an orchestrator's probe would.
 *
 * Usage: deno run --allow-net probe_client.ts URL [HEADERS_JSON]
 *
 * @module
 */

const [url, headers = "{}"] = Deno.args;
try {
  const res = await fetch(url, { headers: JSON.parse(headers) });
  console.log(JSON.stringify({ status: res.status, body: await res.text() }));
} catch (err) {
  console.log(JSON.stringify({ status: 0, body: String(err) }));
}
