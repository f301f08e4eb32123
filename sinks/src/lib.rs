//! Sinks: Kafka topics landed as Delta tables exactly once (the lake-sink issue). The lake
//! writer they will use, with its exactly-once appends, is `chainx-tables`.
