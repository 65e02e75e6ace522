/* avro_check.c - bankstream's Avro decoder as a filter, for the cross-check
 * against an independent implementation (tests/reference/avro_crosscheck.py,
 * fastavro).
 *
 *   build/avro/avro_check WRITER.avsc < bodies.hex
 *
 * Resolves the writer schema against bankstream's reader schema, then
 * decodes one record body per input line (hex, no frame header) and prints
 * one line per body:
 *   ok <id> <payer> <receiver> <region> <modality> <data_horario us> <cents>
 *   err <reason>
 * A writer that does not resolve prints "plan <reason>" once and exits 3. */
#include "base/avro_decode.h"
#include "base/ids.h"
#include "base/regions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int main(int argc, char **argv)
{
    char err[AVRO_ERR_MAX];
    if (argc != 2) {
        fprintf(stderr, "usage: avro_check WRITER.avsc < bodies.hex\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    static char schema[AVRO_SCHEMA_MAX_BYTES + 1];
    size_t n = f ? fread(schema, 1, AVRO_SCHEMA_MAX_BYTES, f) : 0;
    if (f == NULL || ferror(f)) {
        fprintf(stderr, "avro_check: cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    avro_txn_reader_t *rd = avro_txn_reader_new(NULL, err, sizeof err);
    avro_schema_t *w;
    if (rd == NULL || avro_schema_parse(schema, n, &w, err, sizeof err) != 0) {
        printf("plan %s\n", err);
        return 3;
    }
    avro_txn_plan_t *pl = avro_txn_plan_new(rd, w, err, sizeof err);
    if (pl == NULL) {
        printf("plan %s\n", err);
        avro_txn_reader_free(rd);
        return 3;
    }
    static char line[2 * AVRO_DECODE_MAX_BYTES + 4];
    static unsigned char body[AVRO_DECODE_MAX_BYTES + 1];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n"), k = 0;
        for (size_t i = 0; i + 1 < len && k < sizeof body; i += 2) {
            int hi = hexval(line[i]), lo = hexval(line[i + 1]);
            if (hi < 0 || lo < 0) break;
            body[k++] = (unsigned char)(hi << 4 | lo);
        }
        txn_t t;
        if (avro_txn_decode(pl, body, k, &t, err, sizeof err) != 0) {
            printf("err %s\n", err);
            continue;
        }
        char id[3][IDS_TEXT_LEN + 1];
        ids_format(t.id, id[0]);
        ids_format(t.payer, id[1]);
        ids_format(t.receiver, id[2]);
        printf("ok %s %s %s %s %s %lld %lld\n", id[0], id[1], id[2], region_table[t.region].code,
               modality_names[t.modality], (long long)t.time_us, (long long)t.amount_cents);
    }
    avro_txn_plan_free(pl);
    avro_txn_reader_free(rd);
    return 0;
}
