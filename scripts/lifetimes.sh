# The reference for customer value models: Python's lifetimes 0.11.3 from PyPI, whose wheel ships
# the CDNOW data (nothing of it is committed). Source this file, then:
#   lifetimes_data   -> sets LIFETIMES_DATA to the wheel's datasets folder
#   lifetimes_python -> sets LIFETIMES_PY to a Python with lifetimes installed
# Both keep what they fetched under target/ between runs and return non-zero when PyPI cannot be
# reached.

LIFETIMES_CACHE=${LIFETIMES_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/lifetimes}

lifetimes_data() {
  LIFETIMES_DATA=$LIFETIMES_CACHE/wheel/lifetimes/datasets
  [ -f "$LIFETIMES_DATA/CDNOW_sample.txt" ] && return 0
  mkdir -p "$LIFETIMES_CACHE/wheel"
  python3 -m pip download -q --no-deps lifetimes==0.11.3 -d "$LIFETIMES_CACHE/wheel" > /dev/null 2>&1 || return 1
  python3 -c "import zipfile, glob; zipfile.ZipFile(glob.glob('$LIFETIMES_CACHE/wheel/*.whl')[0]).extractall('$LIFETIMES_CACHE/wheel')" \
    && [ -f "$LIFETIMES_DATA/CDNOW_sample.txt" ]
}

lifetimes_python() {
  LIFETIMES_PY=$LIFETIMES_CACHE/venv/bin/python
  "$LIFETIMES_PY" -c "import lifetimes" 2> /dev/null && return 0
  python3 -m venv "$LIFETIMES_CACHE/venv" > /dev/null 2>&1 || return 1
  "$LIFETIMES_CACHE/venv/bin/pip" install -q lifetimes==0.11.3 > /dev/null 2>&1 || return 1
  "$LIFETIMES_PY" -c "import lifetimes" 2> /dev/null
}

# CDNOW_sample.txt (customer, sample id, yyyymmdd, CDs, dollars) as CSV: customer,date,cds,amount.
cdnow_sample_csv() {
  awk '{print $1","substr($3,1,4)"-"substr($3,5,2)"-"substr($3,7,2)","$4","$5}' "$LIFETIMES_DATA/CDNOW_sample.txt" > "$1"
}
