"""Image-to-image translation: pix2pix training on paired images (folders, side-by-side AB images, or
pairs derived from any image source: colorization in L*a*b*, restoration of damaged images), and
applying a translation model to images of any size (`gantool translate`)."""
