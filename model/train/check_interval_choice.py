#!/usr/bin/python3
"""Re-checks the choice of 5 calibration bins (model/README.md) WITHOUT the hold-out: the validation part of
the training rows used for tuning (3,303 rows) plays the hold-out, the other 13,209 rows are split into fit
and calibration parts exactly as train.py splits all training rows. Run from the repository root:
    /usr/bin/python3 model/train/check_interval_choice.py      (about 2 minutes)
"""
import os; os.environ["OMP_NUM_THREADS"]="1"
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
from sklearn.model_selection import train_test_split
import train as T, intervals as I
X, y = T.load()
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=42)
# pseudo hold-out: the tuning validation split of the training rows (the real hold-out is not used)
X_in, X_v, y_in, y_v = train_test_split(X_tr, y_tr, test_size=0.2, random_state=0)
cfg = dict(coords=True, max_leaf_nodes=63, min_samples_leaf=20, l2_regularization=0.0)
F = lambda A: T.model_inputs(A, True)
point = T.gbdt(cfg, 311).fit(F(X_in), y_in); pv = point.predict(F(X_v))
const = 2*np.quantile(np.abs(y_v-pv), 0.9)
def rep(name, lo, hi):
    lo=np.minimum(lo, pv[:,None]); hi=np.maximum(hi, pv[:,None])
    inside=(y_v[:,None]>=lo)&(y_v[:,None]<=hi); w=hi-lo
    e=np.quantile(pv,np.linspace(0,1,11)); d=np.clip(np.searchsorted(e,pv,side="right")-1,0,9)
    dec=[inside[d==j,1].mean() for j in range(10)]
    print(f"{name}: cov {inside.mean(0).round(4)} ratio@0.9 {w[:,1].mean()/const:.3f} min decile {min(dec):.3f}", flush=True)
for bins in [1, 5, 10]:
    I.BINS = bins
    m, info = I.fit(X_in, y_in, F, lambda: T.gbdt(cfg, 311))
    lo, hi = m.predict(F(X_v), pv)
    rep(f"normalised bins={bins} (cal {info['calibration_rows']})", lo, hi)
