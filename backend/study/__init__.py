"""User studies: configs, judgement store, blinded interleaving, analysis, exports."""
