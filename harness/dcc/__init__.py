"""The DCC side of the harness: the SR catalogue, DUIS requests, keys, the S1SP model.

Packs reach it through the ``dcc`` fixture (:class:`harness.dcc.client.Dcc`): they speak in
Service Requests, as the programme does, and get Service Responses and alerts back.
"""
