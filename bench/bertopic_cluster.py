"""BERTopic with its default UMAP + HDBSCAN on precomputed embeddings (bench/cluster-quality.ts calls this).

usage: python bench/bertopic_cluster.py VECTORS.f32 DIMS TEXTS.json  -> prints a JSON list of topic ids (-1 = outlier)
Run with the benchmark's own venv (.venv-bench: torch CPU, bertopic, umap-learn, hdbscan).
"""
import json
import sys
import time

import numpy as np
from bertopic import BERTopic
from hdbscan import HDBSCAN
from umap import UMAP

vectors_path, dims, texts_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
embeddings = np.fromfile(vectors_path, dtype="<f4").reshape(-1, dims)
texts = json.load(open(texts_path))
started = time.time()
# BERTopic's defaults, spelled out (plus a fixed UMAP seed so runs are comparable).
umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=42)
hdbscan_model = HDBSCAN(min_cluster_size=10, metric="euclidean", cluster_selection_method="eom", prediction_data=True)
model = BERTopic(umap_model=umap_model, hdbscan_model=hdbscan_model, embedding_model=None)
topics, _ = model.fit_transform(texts, embeddings)
print(json.dumps({"topics": [int(t) for t in topics], "seconds": time.time() - started}))
