"""Streamlit glue shared by the dashboard's pages, one job per module.

Only this package and ``app.py`` / ``pages/`` import streamlit; ``core/`` never does.

=========================  ====================================================================================
``entry``                  :func:`ensure_app` (every page runs through ``app.py``), :func:`app_context`
``sidebar``                the shared sidebar: source, ground truth, Two sets, method and parameters
``state``                  what the sidebar chose: :func:`current_dataset`, :func:`current_method`, its keys
``sources``                demo sets, uploads, server folder (local mode), labelling; ``uploads``: the per-session
                           upload store
``features``               :func:`cached_features` (encode once per process, with progress)
``caching``                the byte-bounded stores, :func:`memo`, the keys (dataset fingerprint, features, labels)
``threshold``              the shared threshold per method + parameters (slider, format, grid)
``widgets``                thumbnails, galleries, the shared query; ``skipped``: every file accounted for;
                           ``empty``: the empty state
``two_sets``               the A-against-B mode; ``review`` / ``review_state``, ``pair_inspector``, ``verified``,
                           ``robustness_invariance``: page sections
``intent``, ``matching``   the sidebar's "what are you looking for" presets and matching options
``url_state``              the view in the URL (reload, shared links); ``cli_command``: the same view as a command
``layout``, ``text``       CSS for narrow screens; Markdown escaping of visitor text
=========================  ====================================================================================
"""
