/* regions.h - the 27 Brazilian federative units (UFs) and their capitals.
 *
 * The table order is the order of SYSTEM.md and is the region index used in
 * transactions, user rows and archives; never reorder it. */
#ifndef BS_REGIONS_H
#define BS_REGIONS_H

#include <stddef.h>

#define REGION_COUNT 27

typedef struct region_info {
    char code[3];        /* "SP" */
    const char *capital; /* "São Paulo" */
    double latitude;     /* of the capital, degrees */
    double longitude;
} region_info_t;

extern const region_info_t region_table[REGION_COUNT];

/* Index of a two-letter UF code (exact, upper case), or -1. */
int region_index(const char *code, size_t len);

#endif
