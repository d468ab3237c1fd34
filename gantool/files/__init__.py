"""Files and streams: writing (atomic, write-through, stdout), reading (stdin, latents), images
(the one image loader and PNG writer) and modelfile (gantool's .safetensors format)."""
