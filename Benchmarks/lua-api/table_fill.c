/* Raw Lua C API cost of filling 100 charger tables with 9 fields: fresh tables,
 * reused tables, reused tables with interned keys. The floor under the policy
 * bridge (docs/performance.md). Build: gcc -O2 -I/usr/include/lua5.4
 * table_fill.c -llua5.4 -o table_fill && ./table_fill */
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static const char *keys[]={"status","max","current","setpoint","session_energy","connected_for","responding","eligible","volts"};
int main(void){
  lua_State *L=luaL_newstate();
  int N=2000; double t0;
  /* 1: fresh tables, string keys */
  t0=now();
  for(int r=0;r<N;r++){ lua_createtable(L,100,0);
    for(int i=1;i<=100;i++){ lua_createtable(L,0,9); for(int k=0;k<9;k++){ lua_pushstring(L,keys[k]); lua_pushnumber(L,i*k); lua_rawset(L,-3);} lua_rawseti(L,-2,i);} lua_pop(L,1);}
  printf("fresh, pushstring keys: %.1f us per 100 chargers\n",(now()-t0)/N*1e6);
  /* 2: reuse tables, string keys */
  lua_createtable(L,100,0); for(int i=1;i<=100;i++){lua_createtable(L,0,9); lua_rawseti(L,-2,i);}
  t0=now();
  for(int r=0;r<N;r++){ for(int i=1;i<=100;i++){ lua_rawgeti(L,-1,i); for(int k=0;k<9;k++){ lua_pushstring(L,keys[k]); lua_pushnumber(L,i*k+r); lua_rawset(L,-3);} lua_pop(L,1);} }
  printf("reused, pushstring keys: %.1f us\n",(now()-t0)/N*1e6);
  /* 3: reuse tables, interned keys from a table */
  lua_createtable(L,9,0); for(int k=0;k<9;k++){lua_pushstring(L,keys[k]); lua_rawseti(L,-2,k+1);} int kt=lua_gettop(L);
  t0=now();
  for(int r=0;r<N;r++){ for(int i=1;i<=100;i++){ lua_rawgeti(L,kt-1,i); for(int k=0;k<9;k++){ lua_rawgeti(L,kt,k+1); lua_pushnumber(L,i*k+r); lua_rawset(L,-3);} lua_pop(L,1);} }
  printf("reused, interned keys: %.1f us\n",(now()-t0)/N*1e6);
  return 0;}
