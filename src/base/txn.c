/* txn.c - the names of modalities, statuses and reasons as they appear on
 * the wire and in the database. */
#include "base/txn.h"

#include <string.h>

const char *const modality_names[MOD_COUNT] = {"PIX", "TED", "DOC", "Boleto"};
const char *const txn_status_names[STATUS_COUNT] = {"aprovada", "rejeitada", "nao_processada"};
const char *const txn_reason_names[REASON_COUNT] = {
    NULL,       "saldo_insuficiente",   "limite_excedido",
    "risco",    "pagador_desconhecido", "recebedor_desconhecido",
    "atrasada", "anterior_a_ultima",    "data_futura",
};

int modality_index(const char *name, size_t len)
{
    for (int i = 0; i < MOD_COUNT; i++)
        if (strlen(modality_names[i]) == len && memcmp(modality_names[i], name, len) == 0) return i;
    return -1;
}

static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0) return i;
    return -1;
}

int txn_status_index(const char *name)
{
    return name_index(txn_status_names, STATUS_COUNT, name);
}

int txn_reason_index(const char *name)
{
    return name_index(txn_reason_names, REASON_COUNT, name);
}
