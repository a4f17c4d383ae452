"""The ingest API the sending platform calls: keys, validation and the JSON views. What a
call changes in the data is `sendon_results.ingest`'s business."""
