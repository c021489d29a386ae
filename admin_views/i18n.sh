#!/usr/bin/env bash
# The Chinese catalogue: extract the product's msgids into messages.pot, merge
# them into zh_Hans_CN/LC_MESSAGES/messages.po and compile the .mo files.
# After adding UI strings: run this, translate the new entries in messages.po
# (empty msgstr), run it again. tests/test_i18n.py fails while a msgid is
# missing from the catalogue, untranslated or fuzzy, or a .mo is stale.
#
#   bash admin_views/i18n.sh              extract + update + compile
#   bash admin_views/i18n.sh compile      compile only
#   bash admin_views/i18n.sh pot FILE     extract only, into FILE (the test uses it)
#
# admin.po (Flask-Admin's own domain) is kept by hand; it only fills gaps in
# Flask-Admin's bundled Chinese catalogue.
set -euo pipefail

cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
DIR=admin_views/translations
LOCALE=zh_Hans_CN
PO=$DIR/$LOCALE/LC_MESSAGES/messages.po

# Keywords besides Babel's defaults (_, gettext, ngettext, ...): lazy_gettext as
# _l, N_ (the words that fill {what}) and Checker.add(path, template) of
# jobs/core/config_rules.py. Hidden directories (Babel's default ignore) and
# tests, benchmarks, migrations and runtime state are not scanned.
extract() {
    "$PYBABEL" -q extract -F admin_views/babel.cfg \
        -k _l -k lazy_gettext -k N_ -k add:2 \
        --no-location --sort-output --width=100 \
        --ignore-dirs='.* ._ .venv tests bench migrations var instance' \
        --project="Customer SOP" --copyright-holder="Customer SOP contributors" \
        -o "$1" .
}

case "${1:-all}" in
    pot)
        extract "${2:?usage: i18n.sh pot FILE}"
        exit 0
        ;;
    all)
        extract "$DIR/messages.pot"
        if [ -f "$PO" ]; then
            "$PYBABEL" update -i "$DIR/messages.pot" -d "$DIR" -l "$LOCALE" \
                --no-fuzzy-matching --ignore-obsolete --width=100
        else
            "$PYBABEL" init -i "$DIR/messages.pot" -d "$DIR" -l "$LOCALE" --width=100
        fi
        ;;
    compile) ;;
    *)
        echo "usage: $0 [compile | pot FILE]" >&2
        exit 2
        ;;
esac
"$PYBABEL" compile -d "$DIR" -l "$LOCALE" -D "messages admin" --statistics
