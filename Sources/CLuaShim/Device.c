// The `dev` object of driver scripts: register access through the host.
//
// Each method checks its arguments (raising in C), calls the host's I/O
// function, and only after that Swift code has returned pushes the values or
// `nil, message`. Nothing here raises while a Swift frame is on the stack.

#include "ShimInternal.h"

#include <stdio.h>
#include <string.h>

const char fb_device_meta_key = 0;

static int device_io(lua_State *L, int function, int address, int count, uint16_t *values) {
    fb_sandbox *s = lua_touserdata(L, lua_upvalueindex(1));
    if (!s->io) {
        luaL_pushfail(L);
        lua_pushliteral(L, "no device I/O in this state");
        return -1;
    }
    char error[256] = {0};
    int rc = s->io(s->io_context, function, address, count, values, error, sizeof error);
    if (rc != 0) {
        luaL_pushfail(L);
        lua_pushstring(L, error[0] ? error : "device I/O failed");
        return -1;
    }
    return 0;
}

static int check_address(lua_State *L, int arg) {
    lua_Integer a = luaL_checkinteger(L, arg);
    luaL_argcheck(L, a >= 0 && a <= 65535, arg, "address must be 0 to 65535");
    return (int)a;
}

static int read_values(lua_State *L, int function, int bits) {
    int address = check_address(L, 2);
    lua_Integer n = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, n >= 1 && n <= (bits ? 2000 : 125), 3, bits ? "count must be 1 to 2000" : "count must be 1 to 125");
    uint16_t values[2000];
    if (device_io(L, function, address, (int)n, values) != 0) return 2;
    lua_createtable(L, (int)n, 0);
    for (int i = 0; i < n; i++) {
        if (bits) lua_pushboolean(L, values[i] != 0);
        else lua_pushinteger(L, values[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int dev_read_holding(lua_State *L) { return read_values(L, 3, 0); }
static int dev_read_input(lua_State *L) { return read_values(L, 4, 0); }
static int dev_read_coils(lua_State *L) { return read_values(L, 1, 1); }
static int dev_read_discrete(lua_State *L) { return read_values(L, 2, 1); }

static uint16_t check_register(lua_State *L, int arg) {
    lua_Integer v = luaL_checkinteger(L, arg);
    luaL_argcheck(L, v >= 0 && v <= 65535, arg, "a register holds 0 to 65535");
    return (uint16_t)v;
}

static int dev_write_register(lua_State *L) {
    int address = check_address(L, 2);
    uint16_t v = check_register(L, 3);
    if (device_io(L, 6, address, 1, &v) != 0) return 2;
    lua_pushboolean(L, 1);
    return 1;
}

static int dev_write_registers(lua_State *L) {
    int address = check_address(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 3);
    luaL_argcheck(L, n >= 1 && n <= 123, 3, "1 to 123 registers");
    uint16_t values[123];
    for (lua_Integer i = 0; i < n; i++) {
        lua_rawgeti(L, 3, i + 1);
        values[i] = check_register(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    if (device_io(L, 16, address, (int)n, values) != 0) return 2;
    lua_pushboolean(L, 1);
    return 1;
}

static int dev_write_coil(lua_State *L) {
    int address = check_address(L, 2);
    luaL_checkany(L, 3);
    uint16_t v = (uint16_t)lua_toboolean(L, 3);
    if (device_io(L, 5, address, 1, &v) != 0) return 2;
    lua_pushboolean(L, 1);
    return 1;
}

#define HTTP_URL_LIMIT 2048
#define HTTP_HEADERS_LIMIT 8192
#define HTTP_BODY_LIMIT (256u << 10)

// dev:http{ method = "POST", url = "https://...", headers = { Name = "value" },
//           body = "...", timeout = 5 }  ->  status, body  |  nil, message
// Everything is read and checked (raising in C) before the host is called;
// the body is pushed only after the host has returned.
static int dev_http(lua_State *L) {
    fb_sandbox *s = lua_touserdata(L, lua_upvalueindex(1));
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "method");
    const char *method = luaL_optstring(L, -1, "GET");
    luaL_argcheck(L, strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0
                     || strcmp(method, "DELETE") == 0, 2, "method must be GET, POST, PUT or DELETE");
    lua_getfield(L, 2, "url");
    size_t url_length = 0;
    const char *url = lua_tolstring(L, -1, &url_length);
    luaL_argcheck(L, url != NULL && url_length > 0 && url_length <= HTTP_URL_LIMIT && strlen(url) == url_length, 2,
                  "url must be a string of 1 to 2048 characters");
    lua_getfield(L, 2, "body");
    size_t body_length = 0;
    const char *body = lua_isnil(L, -1) ? NULL : lua_tolstring(L, -1, &body_length);
    luaL_argcheck(L, lua_isnil(L, -1) || body != NULL, 2, "body must be a string");
    luaL_argcheck(L, body_length <= HTTP_BODY_LIMIT, 2, "body over 256 KiB");
    lua_getfield(L, 2, "timeout");
    lua_Number timeout = luaL_optnumber(L, -1, 5);
    luaL_argcheck(L, timeout > 0 && timeout <= 30, 2, "timeout must be over 0 and at most 30 s");

    // Header lines, "Name: value\n" each: checked and measured first, then
    // copied into a userdata (the counting allocator sees it; the GC frees it).
    lua_getfield(L, 2, "headers");
    int headers_index = lua_gettop(L);
    luaL_argcheck(L, lua_isnil(L, headers_index) || lua_istable(L, headers_index), 2, "headers must be a table");
    size_t headers_length = 0;
    for (int pass = 0; pass < 2; pass++) {
        char *out = NULL;
        if (pass == 1) out = lua_newuserdatauv(L, headers_length + 1, 0);
        size_t at = 0;
        if (!lua_istable(L, headers_index)) { if (out) out[0] = 0; continue; }
        lua_pushnil(L);
        while (lua_next(L, headers_index)) {
            size_t nl = 0, vl = 0;
            const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nl) : NULL;
            const char *value = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vl) : NULL;
            if (!name || !value) luaL_error(L, "bad argument #1 to 'http' (headers must map strings to strings)");
            if (nl == 0 || strcspn(name, "\r\n:") != nl || strcspn(value, "\r\n") != vl)
                luaL_error(L, "bad argument #1 to 'http' (header '%s' has a line break, a colon or a NUL)", name);
            if (out) {
                memcpy(out + at, name, nl);
                memcpy(out + at + nl, ": ", 2);
                memcpy(out + at + nl + 2, value, vl);
                out[at + nl + 2 + vl] = '\n';
            }
            at += nl + vl + 3;
            if (at > HTTP_HEADERS_LIMIT) luaL_error(L, "bad argument #1 to 'http' (headers over 8 KiB)");
            lua_pop(L, 1);
        }
        if (out) out[at] = 0;
        headers_length = at;
    }
    const char *header_lines = lua_istable(L, headers_index) ? lua_touserdata(L, -1) : "";

    if (!s->http || !s->io) {
        luaL_pushfail(L);
        lua_pushliteral(L, "no HTTP for this device: a driver with transport.type \"http\" and a device with an api URL");
        return 2;
    }
    const char *response = NULL;
    size_t response_length = 0;
    char error[256] = {0};
    int status = s->http(s->io_context, method, url, header_lines, body, body_length, (int)(timeout * 1000),
                         &response, &response_length, error, sizeof error);
    if (status < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, error[0] ? error : "HTTP request failed");
        return 2;
    }
    lua_pushinteger(L, status);
    if (response) lua_pushlstring(L, response, response_length);
    else lua_pushliteral(L, "");
    return 2;
}

// Runs under lua_pcall with the sandbox as its light-userdata argument.
int fb_device_meta_setup(lua_State *L) {
    fb_sandbox *s = lua_touserdata(L, 1);
    static const luaL_Reg methods[] = {
        {"read_holding", dev_read_holding}, {"read_input", dev_read_input},
        {"read_coils", dev_read_coils},     {"read_discrete", dev_read_discrete},
        {"write_register", dev_write_register}, {"write_registers", dev_write_registers},
        {"write_coil", dev_write_coil},     {"http", dev_http},
        {NULL, NULL}};
    lua_createtable(L, 0, 2);                 // the metatable
    lua_createtable(L, 0, 8);                 // its __index
    lua_pushlightuserdata(L, s);
    luaL_setfuncs(L, methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "device");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &fb_device_meta_key);
    return 0;
}
