"""Looking inside classifiers: saliency maps and their checks, adversarial examples, class
visualization. Every function takes a gantool.classify.classifiers.Classifier and images in [0, 1]."""
