"""IVR: YAML flows (flows/) validated and run per call over AsyncAGI.

schema.py (one pydantic model per node type), loader.py (YAML with line/col),
validate.py (graph and catalogue checks), prompts.py / hotlines.py /
calendar.py (catalogues), bundle.py (compiled flows, live registry),
engine.py (one FlowSession per call), ports.py (QueuePort, CallActions,
IvrRecorder, SpeechSource, CallerHistory, Clock), versions.py (publish,
rollback, drafts, diff), http.py (/api/flows), simulate.py and cli.py
(``hotline flow validate|simulate``), prompt_audio.py (espeak-ng prompts).
"""
