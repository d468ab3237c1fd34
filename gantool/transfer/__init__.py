"""Transfer learning: features of a trained network (extract-features) and classical models on them (svm)."""
