/* schema_dashboard.h - the dashboard's aggregates in PostgreSQL: five
 * tables of counts (dashboard_resumo, _valor, _t5, _calor, _temporal), the
 * watermark dashboard_estado, the view dashboard_pares, the statement
 * triggers on transacoes and the functions that keep them
 * (dashboard_atualizar, dashboard_reconstruir, dashboard_verificar).
 * schema_dashboard.c says how they stay exact without costing the
 * processor's transactions anything. */
#ifndef BS_SCHEMA_DASHBOARD_H
#define BS_SCHEMA_DASHBOARD_H

/* Creates or brings up to date the aggregates, their functions and
 * triggers, idempotently; the first time (no watermark row yet: a new
 * database, an older one, the original's adopted), counts the rows already
 * there (dashboard_reconstruir()). Run by schema_create as its last step. */
extern const char schema_dashboard_ddl[];

/* Drops what schema_dashboard_ddl creates; run by schema_drop first. */
extern const char schema_dashboard_drop_ddl[];

#endif
