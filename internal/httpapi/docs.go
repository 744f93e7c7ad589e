package httpapi

import (
	"html/template"
	"net/http"
	"sort"
	"strings"
)

// docsPage renders the API reference from the same OpenAPI document served at
// /openapi.json, on the server and without scripts, so it works offline.
var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2329}
h1{margin-bottom:0}code,pre{font:13px ui-monospace,monospace;background:#f3f5f7;border-radius:4px}
pre{padding:.6rem;overflow:auto}.op{border-top:1px solid #dde3e8;padding:1rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:700}.GET{color:#0a7a3e}.POST{color:#1b5fbf}
.DELETE{color:#b3261e}.PATCH,.PUT{color:#9a6700}small{color:#5b6770}
</style></head><body>
<h1>{{.Title}}</h1><p><small>version {{.Version}} · machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI {{.OpenAPI}})</small></p>
<p>{{.Description}}</p>
<p>Authenticate with <code>Authorization: Bearer &lt;access token&gt;</code> or <code>X-Api-Key: &lt;key&gt;</code>. Errors are <code>application/problem+json</code> (RFC 9457). Lists return <code>{"items":[…],"nextCursor":"…"}</code>; pass <code>?cursor=</code> to continue.</p>
{{range .Ops}}<div class="op" id="{{.ID}}"><div><span class="m {{.Method}}">{{.Method}}</span><code>{{.Path}}</code></div>
<p><strong>{{.Summary}}</strong>{{if .Description}}<br>{{.Description}}{{end}}</p>
{{if .Params}}<p><small>parameters:</small> {{range .Params}}<code>{{.}}</code> {{end}}</p>{{end}}
{{if .Request}}<p><small>request body:</small> <code>{{.Request}}</code></p>{{end}}
<p><small>responses:</small> {{range .Responses}}<code>{{.}}</code> {{end}}</p></div>
{{end}}</body></html>`))

type docOp struct {
	ID, Method, Path, Summary, Description, Request string
	Params, Responses                               []string
}

func (s *Server) docs(w http.ResponseWriter, r *http.Request) {
	oa := s.API.OpenAPI()
	var ops []docOp
	for path, item := range oa.Paths {
		for method, op := range operationsOf(item) {
			d := docOp{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Description: op.Description}
			for _, p := range op.Parameters {
				d.Params = append(d.Params, p.In+":"+p.Name)
			}
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Content {
					ref := ct
					if mt.Schema != nil && mt.Schema.Ref != "" {
						ref = strings.TrimPrefix(mt.Schema.Ref, "#/components/schemas/") + " (" + ct + ")"
					}
					d.Request = ref
				}
			}
			for code := range op.Responses {
				d.Responses = append(d.Responses, code)
			}
			sort.Strings(d.Responses)
			ops = append(ops, d)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = docsPage.Execute(w, map[string]any{
		"Title": oa.Info.Title, "Version": oa.Info.Version, "Description": oa.Info.Description,
		"OpenAPI": oa.OpenAPI, "Ops": ops,
	})
}
