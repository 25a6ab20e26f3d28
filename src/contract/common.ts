import Type from "typebox";

export const Timestamp = Type.String({ format: "date-time", description: "ISO 8601, UTC, with milliseconds" });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
export const Uuid = Type.String({ format: "uuid" });
export const NullableUuid = Type.Union([Uuid, Type.Null()]);
export const NullableString = Type.Union([Type.String(), Type.Null()]);
