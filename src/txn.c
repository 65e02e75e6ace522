/* txn.c - names of the payment modalities as they appear on the wire. */
#include "txn.h"

#include <string.h>

const char *const modality_names[MOD_COUNT] = {"PIX", "TED", "DOC", "Boleto"};

int modality_index(const char *name, size_t len)
{
    for (int i = 0; i < MOD_COUNT; i++)
        if (strlen(modality_names[i]) == len && memcmp(modality_names[i], name, len) == 0) return i;
    return -1;
}
