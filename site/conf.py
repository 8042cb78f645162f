"""Sphinx configuration of the course's static site (`make site`, tools/build_site.py).

Sphinx with myst-nb renders each notebook from its stored outputs, without running it, and writes
its saved widget state into the page for ipywidgets' HTML manager; vae_lite's explorers are
anywidgets, so the page runs them from that state with no kernel. Everything the pages load comes
from this folder: the HTML manager and MathJax are bundled from npm at build time (tools/build_site.py).
"""

project = "vae_lite"
author = "the vae_lite authors"
copyright = "the vae_lite authors, MIT licence"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# the stored outputs, as they are: the site never runs a notebook
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
# ipywidgets' HTML manager, bundled by tools/build_site.py, instead of require.js and a CDN
nb_ipywidgets_js = {"vae_lite_widgets.js": {}}
# the still PNG an explorer stores beside its widget is for viewers without widgets: the page shows the widget
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", 0)]
mathjax_path = "mathjax/tex-chtml.js"  # bundled, not from a CDN
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

html_theme = "sphinx_book_theme"
html_title = "vae_lite: the Variational Autoencoder, one checked step at a time"
html_static_path = ["_static"]
html_favicon = "favicon.svg"  # else the browser asks for /favicon.ico, which is not there
html_css_files = ["vae_lite_widgets.css"]
html_copy_source = False  # the notebooks are in the repository; the site need not carry a second copy
html_show_sourcelink = False
html_context = {"default_mode": "light"}  # pydata's theme logs an error in the console without one
html_theme_options = {"show_toc_level": 2, "use_download_button": False, "use_fullscreen_button": False}
