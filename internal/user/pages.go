package user

import (
	"net/http"
)

// The mailed links point at /auth/verify?token=… and
// /auth/password/reset?token=…, the same paths the API answers on POST. A
// person who clicks a link gets one of these pages: it does nothing by itself
// (mail scanners that prefetch links must not spend tokens) and POSTs the
// token as JSON when the person presses the button. The pages load nothing
// from elsewhere and send no Referer, so the token goes nowhere else.

const pageHead = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">
<title>wagate</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#1d2329}
button{font:inherit;padding:.4rem 1rem}input{font:inherit;padding:.3rem;width:100%;box-sizing:border-box;margin:.3rem 0 1rem}
#out{margin-top:1rem}</style></head><body>`

const pageScript = `<script>
const token = new URLSearchParams(location.search).get("token") || "";
async function post(path, body) {
  const out = document.getElementById("out");
  const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (res.ok) { out.textContent = document.body.dataset.ok; return; }
  let detail = res.statusText;
  try { detail = (await res.json()).detail || detail; } catch (e) {}
  out.textContent = "Failed: " + detail;
}
</script>`

const verifyHTML = pageHead + `<h1>Verify your email</h1>
<p>Press the button to confirm your email address.</p>
<button id="go">Verify my email</button><p id="out" role="status"></p>` + pageScript + `<script>
document.body.dataset.ok = "Your email address is verified. You can log in now (POST /auth/login).";
document.getElementById("go").onclick = () => post("/auth/verify", {token});
</script></body></html>`

const resetHTML = pageHead + `<h1>Choose a new password</h1>
<form id="f"><label>New password (8 to 256 characters)<input id="pw" type="password" minlength="8" maxlength="256" required autocomplete="new-password"></label>
<button>Set password</button></form><p id="out" role="status"></p>` + pageScript + `<script>
document.body.dataset.ok = "Your password is changed and every session was logged out. Log in with the new password.";
document.getElementById("f").onsubmit = (e) => { e.preventDefault(); post("/auth/password/reset", {token, password: document.getElementById("pw").value}); };
</script></body></html>`

func verifyPage(w http.ResponseWriter, r *http.Request) { writePage(w, verifyHTML) }

func resetPage(w http.ResponseWriter, r *http.Request) { writePage(w, resetHTML) }

func writePage(w http.ResponseWriter, page string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'")
	_, _ = w.Write([]byte(page))
}
