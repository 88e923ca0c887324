package main

import (
	"context"
	"fmt"

	"github.com/rotasafe/rotasafe"
	"github.com/rotasafe/rotasafe/cache"
	"github.com/rotasafe/rotasafe/internal/testserver/mysqltest"
	"github.com/rotasafe/rotasafe/rotate"
	"github.com/rotasafe/rotasafe/sqlconn"
)

// Engines the demo runs against (-engine).
const (
	enginePostgres = "postgres"
	engineMariaDB  = "mariadb"
)

// engineName is the engine as the status line names it.
func engineName(engine string) string {
	if engine == engineMariaDB {
		return "MariaDB"
	}
	return "PostgreSQL"
}

// setupMariaDB is setup on a throw-away MariaDB (or the server ROTASAFE_MYSQL_URL names): the
// app's user, and for the alternating and dual strategies a master secret of the admin.
func setupMariaDB(ctx context.Context, cfg config, w *world) error {
	my, err := mysqltest.Start(ctx)
	if err != nil {
		return err
	}
	w.my = my
	w.user = "demo_app"
	if my.External() {
		w.user = mysqltest.UniqueName("demo_app")
	}
	password := randomPassword()
	if err := my.CreateUser(ctx, w.user, password); err != nil {
		return err
	}
	app := rotasafe.DBSecret{Engine: engineMariaDB, Host: my.Host(), Port: my.Port(), Username: w.user, Password: password}
	if cfg.strategy != "single" {
		master := rotasafe.DBSecret{Engine: engineMariaDB, Host: my.Host(), Port: my.Port(), Username: my.AdminUser(), Password: my.AdminPassword()}
		arn, err := w.createSecret(ctx, "demo/master", master)
		if err != nil {
			return err
		}
		app.MasterARN = arn
	}
	if _, err := w.createSecret(ctx, "demo/app/db", app); err != nil {
		return err
	}
	w.secretID = "demo/app/db"
	return nil
}

// connector returns the application's connector for the world's engine.
func (w *world) connector(c *cache.Cache) *sqlconn.Connector {
	if w.my != nil {
		return sqlconn.NewMySQL(c, w.secretID)
	}
	return sqlconn.NewPostgres(c, w.secretID)
}

// strategy returns the rotation strategy for the world's engine.
func (w *world) strategy(name string) (rotate.Strategy, error) {
	switch {
	case w.my == nil && name == "single":
		return rotate.PostgresSingleUser(), nil
	case w.my == nil && name == "alternating":
		return rotate.PostgresAlternatingUsers(), nil
	case w.my != nil && name == "single":
		return rotate.MySQLSingleUser(), nil
	case w.my != nil && name == "alternating":
		return rotate.MySQLAlternatingUsers(), nil
	case w.my != nil && name == "dual":
		return rotate.MySQLDualPassword(), nil
	}
	return nil, fmt.Errorf("no %s strategy for this engine", name)
}
