# v1_messages.sh - the messages behind the version-1 fixture
# (bankstream_v1.sql), for tests/integration/34-upgrade.sh, which sends the
# same messages again to a topic of its own. Sourced (bash).
#
#   v1_messages BANKSTREAM PG BROKERS TOPIC
#
# PG holds the fixture's users (init --users 60 --seed 42). 150 generated
# transactions (seed 9, from 1750000000000 ms), the first of them again (a
# duplicate), one like it dated 2099 (not processed: data_futura), and two
# dead letters (partitions 1 and 2).
v1_messages() {
    local bs=$1 pg=$2 brokers=$3 topic=$4 first
    local gen=(--count 150 --rate 0 --seed 9 --start-time 1750000000000 --historic 0 --quiet)
    "$bs" produce --pg "$pg" --brokers "$brokers" --topic "$topic" "${gen[@]}"
    first=$("$bs" produce --pg "$pg" --output - "${gen[@]}" | sed -n 1p)
    printf '%s\n' "$first" | kcat -b "$brokers" -t "$topic" -P -K $'\t'
    sed 's/"id_transacao":"[^"]*"/"id_transacao":"0e9d7b1c-2a35-4f6e-8a11-5c3b2d1e0f99"/;
         s/"data_horario":[0-9]*/"data_horario":4070908800000/' <<<"$first" |
        kcat -b "$brokers" -t "$topic" -P -K $'\t'
    printf 'not json\n' | kcat -b "$brokers" -t "$topic" -P -p 1
    printf '{"id_transacao": 12}\n' | kcat -b "$brokers" -t "$topic" -P -p 2
}
