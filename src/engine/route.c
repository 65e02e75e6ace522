/* route.c - the stable owner hash of a user id (FNV-1a, 64 bits). */
#include "engine/route.h"

uint64_t route_hash(const uint8_t id[16])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 16; i++) {
        h ^= id[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
