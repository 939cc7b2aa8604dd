"""Schemathesis hooks for api_fuzz.py: scripts are uploaded as text/x-lua."""
import schemathesis


@schemathesis.serializer("text/x-lua")
class LuaText:
    def as_requests(self, context, value):
        data = value if isinstance(value, (bytes, str)) else str(value)
        return {"data": data.encode("utf-8") if isinstance(data, str) else data,
                "headers": {"Content-Type": "text/x-lua"}}

    def as_werkzeug(self, context, value):
        return self.as_requests(context, value)
