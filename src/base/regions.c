/* regions.c - UF codes with the coordinates of each state's capital. */
#include "base/regions.h"

#include <string.h>

const region_info_t region_table[REGION_COUNT] = {
    {"AC", "Rio Branco", -9.97, -67.81},      {"AL", "Maceió", -9.67, -35.74},
    {"AP", "Macapá", 0.03, -51.07},           {"AM", "Manaus", -3.12, -60.02},
    {"BA", "Salvador", -12.97, -38.51},       {"CE", "Fortaleza", -3.72, -38.54},
    {"DF", "Brasília", -15.79, -47.88},       {"ES", "Vitória", -20.32, -40.34},
    {"GO", "Goiânia", -16.69, -49.26},        {"MA", "São Luís", -2.53, -44.30},
    {"MT", "Cuiabá", -15.60, -56.10},         {"MS", "Campo Grande", -20.44, -54.65},
    {"MG", "Belo Horizonte", -19.92, -43.94}, {"PA", "Belém", -1.46, -48.50},
    {"PB", "João Pessoa", -7.12, -34.86},     {"PR", "Curitiba", -25.43, -49.27},
    {"PE", "Recife", -8.05, -34.88},          {"PI", "Teresina", -5.09, -42.80},
    {"RJ", "Rio de Janeiro", -22.91, -43.17}, {"RN", "Natal", -5.79, -35.21},
    {"RS", "Porto Alegre", -30.03, -51.23},   {"RO", "Porto Velho", -8.76, -63.90},
    {"RR", "Boa Vista", 2.82, -60.67},        {"SC", "Florianópolis", -27.59, -48.55},
    {"SP", "São Paulo", -23.55, -46.63},      {"SE", "Aracaju", -10.91, -37.07},
    {"TO", "Palmas", -10.18, -48.33},
};

int region_index(const char *code, size_t len)
{
    if (len != 2) return -1;
    for (int i = 0; i < REGION_COUNT; i++)
        if (region_table[i].code[0] == code[0] && region_table[i].code[1] == code[1]) return i;
    return -1;
}
