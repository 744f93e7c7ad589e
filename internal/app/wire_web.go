package app

import "github.com/wagate/wagate/web"

// wireWeb serves the dashboard at "/" from the processes that serve the
// API; it is a client of that API, so it needs nothing else.
func (a *App) wireWeb() error {
	if !a.Role.runs(RoleAPI) {
		return nil
	}
	return web.Register(a.HTTP.Mux, web.Config{
		Simulator:  a.Config.Simulator,
		MailLogged: a.Config.SMTPURL == "",
		Version:    Version,
	}, a.Logger)
}
