# The references for predictors and uplift models, all from PyPI (nothing of them is committed):
# the dmba 0.2.4 wheel ships UniversalBank.csv.gz (a loan offer, 9.6% responders) and
# Hair-Care-Product.csv.gz (a randomised promotion); scikit-learn, LightGBM and scikit-uplift are
# the peers. Source this file, then:
#   predict_data    -> sets PREDICT_DATA to the folder with the two CSV files, unpacked
#   predict_python  -> sets PREDICT_PY to a Python with the peers installed
# Both keep what they fetched under target/ between runs and return non-zero when PyPI cannot be
# reached.

PREDICT_CACHE=${PREDICT_CACHE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/predict-peers}

predict_data() {
  PREDICT_DATA=$PREDICT_CACHE/data
  [ -f "$PREDICT_DATA/UniversalBank.csv" ] && [ -f "$PREDICT_DATA/Hair-Care-Product.csv" ] && return 0
  mkdir -p "$PREDICT_CACHE/wheel" "$PREDICT_DATA"
  python3 -m pip download -q --no-deps dmba==0.2.4 -d "$PREDICT_CACHE/wheel" > /dev/null 2>&1 || return 1
  python3 - "$PREDICT_CACHE/wheel" "$PREDICT_DATA" <<'PY' || return 1
import glob, gzip, sys, zipfile
wheel = zipfile.ZipFile(glob.glob(sys.argv[1] + '/dmba-0.2.4-*.whl')[0])
for name in ('UniversalBank', 'Hair-Care-Product'):
    text = gzip.decompress(wheel.read(f'dmba/csvFiles/{name}.csv.gz')).decode('utf-8-sig')
    open(f'{sys.argv[2]}/{name}.csv', 'w').write(text)
PY
}

predict_python() {
  PREDICT_PY=$PREDICT_CACHE/venv/bin/python
  "$PREDICT_PY" -c "import sklearn, lightgbm, sklift" 2> /dev/null && return 0
  python3 -m venv "$PREDICT_CACHE/venv" > /dev/null 2>&1 || return 1
  "$PREDICT_CACHE/venv/bin/pip" install -q scikit-learn lightgbm scikit-uplift==0.5.1 pandas > /dev/null 2>&1 || return 1
  "$PREDICT_PY" -c "import sklearn, lightgbm, sklift" 2> /dev/null
}
