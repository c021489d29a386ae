#!/usr/bin/env bash
# Refresh the translation catalogue: extract the msgids of the product into
# messages.pot, merge them into the Chinese messages.po, compile messages.mo.
# Then translate what is new (empty or fuzzy msgstr) in messages.po and run this
# again; tests/test_i18n.py fails while a msgid is missing or untranslated.
#
#   bash admin_views/i18n.sh            extract + update + compile
#   bash admin_views/i18n.sh compile    only compile messages.po -> messages.mo
set -euo pipefail

cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
DIR=admin_views/translations
LOCALE=zh_Hans_CN
PO=$DIR/$LOCALE/LC_MESSAGES/messages.po

# The keywords: lazy_gettext as _l, N_ (words for {what}), and Checker.add(path,
# template) in jobs/core/config_rules.py. The ignore list keeps Babel's default
# (hidden directories) and skips tests, benchmarks, migrations and runtime state.
extract() {
    "$PYBABEL" extract -F admin_views/babel.cfg \
        -k _l -k lazy_gettext -k N_ -k add:2 \
        --no-location --sort-output \
        --ignore-dirs='.* ._ .venv tests bench migrations var instance' \
        --project="Customer SOP" --copyright-holder="Customer SOP contributors" \
        -o "$1" .
}

if [ "${1:-}" != "compile" ]; then
    extract "$DIR/messages.pot"
    if [ -f "$PO" ]; then
        "$PYBABEL" update -i "$DIR/messages.pot" -d "$DIR" -l "$LOCALE" \
            --no-fuzzy-matching --ignore-obsolete
    else
        "$PYBABEL" init -i "$DIR/messages.pot" -d "$DIR" -l "$LOCALE"
    fi
fi
"$PYBABEL" compile -d "$DIR" -l "$LOCALE" --statistics
