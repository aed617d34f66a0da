"""nst-nodes: neural style transfer for ComfyUI and the command line.

This folder is both the ComfyUI custom-node pack and the Python package
`nst_nodes`. Importing it does no work and needs no ComfyUI.
"""

__version__ = "0.1.0"
