
return {
  name = nil,
  allocate = function(site)
    debug.sethook()
    return {}
  end,
}
