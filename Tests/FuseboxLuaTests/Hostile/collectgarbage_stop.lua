
return {
  name = nil,
  allocate = function(site)
    collectgarbage("stop")
    return {}
  end,
}
